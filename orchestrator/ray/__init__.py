"""The Ray backend: a controller actor owning one model worker per resident model, GPU slot plans,
and the driver-side stream of answered batches."""
