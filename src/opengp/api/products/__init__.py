"""The product dialect: TopographicProductionServer, generateProduct and product jobs."""
