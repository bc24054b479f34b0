"""`berth certificates`: a private CA and the external VIP's server certificate for HAProxy (docs/ha.md)."""

from __future__ import annotations

import json

import click

from berth.cli.context import AppContext, pass_app
from berth.errors import ConfigError


@click.command("certificates")
@click.option("--name", "names", multiple=True, help="A DNS name the certificate also covers (repeatable).")
@click.option("--renew", is_flag=True, help="Make the server certificate again even if it covers every address.")
@pass_app
def certificates_cmd(app: AppContext, names: tuple[str, ...], renew: bool) -> None:
    """Make <config-dir>/certificates/: ca.crt and ca.key (a private CA, kept once made) and haproxy.pem (the
    server certificate for the external and internal VIPs, its chain and key; mode 0600).

    To use your own certificate instead, put it (with its chain and key) in haproxy.pem and its CA in ca.crt.
    """
    from berth.config import certificates
    from berth.config.loader import GLOBALS_FILE, validate_globals
    from berth.config.yamlfile import load_mapping

    globals_, problems = validate_globals(load_mapping(app.config_dir / GLOBALS_FILE))
    if globals_ is None:
        raise ConfigError(f"{app.config_dir / GLOBALS_FILE} is not valid", "fix it first (`berth config validate`)",
                          details=problems)
    addresses = list(dict.fromkeys(a for a in (globals_.external_vip_address, globals_.internal_vip_address) if a))
    if not addresses and not names:
        raise ConfigError("no address to make a certificate for",
                          "set external_vip_address (and internal_vip_address) in globals.yml, or give --name")
    made = certificates.make(app.config_dir, addresses, names, renew)
    if app.json:
        click.echo(json.dumps({"written": [str(p) for p in made.written], "kept": [str(p) for p in made.kept],
                               "addresses": addresses, "names": list(names)}))
        return
    for path in made.written:
        app.echo(f"wrote {path}")
    for path in made.kept:
        app.echo(f"kept  {path}")
    app.echo(f"covers: {', '.join([*addresses, *names])}; clients trust {certificates.folder(app.config_dir)}/"
             f"{certificates.CA_CERT} (post-deploy names it in admin-openrc.sh and clouds.yaml)")


def register(group: click.Group) -> None:
    group.add_command(certificates_cmd)
