-- docker-compose.yml's pg-temporal: the postgres image creates POSTGRES_DB (temporal) and runs this
-- once, on an empty data directory; Temporal's visibility store is the second database of the
-- cluster, as `esm topology` creates it (topology.Plan's Cluster.Databases).
CREATE DATABASE temporal_visibility;
