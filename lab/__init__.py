"""The local lab: real servers on 127.0.0.1 standing in for AWS, EKS, Vault, Keycloak,
Thanos and Prometheus. See lab/README.md; run `python -m lab up`."""
