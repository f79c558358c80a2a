"""pixelflow: a serverless image service (uploads, imports, generation) on AWS Chalice."""
