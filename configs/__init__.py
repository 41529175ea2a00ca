"""The packaged configs (pools, bench, skills, agents): YAML and JSON found through common.resources."""
