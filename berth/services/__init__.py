"""One folder per service. Each folder holds everything about that service:

- `service.yml`   containers, dependencies, bootstrap steps, endpoints, ports, health checks (deploy)
- `images/`       `<image>.Dockerfile.j2` recipes and files for their build context (build)
- `templates/`    config file templates rendered per container (deploy)

Nothing outside a service's folder names the service: the registry finds folders by walking this package.
"""
