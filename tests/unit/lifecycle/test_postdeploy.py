"""Credentials files: the values the clients need, quoted for the shell, mode 0600."""

from __future__ import annotations

import subprocess

import yaml

from berth.lifecycle.postdeploy import clouds_text, openrc_text

CREDS = {"auth_url": "http://127.0.0.1:5000/v3", "username": "admin", "password": "p'a$s w",
         "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default",
         "region_name": "RegionOne"}


def test_openrc_survives_shell_quoting(tmp_path):
    path = tmp_path / "openrc"
    path.write_text(openrc_text(CREDS))
    out = subprocess.run(["bash", "-c", f". {path} && printf %s \"$OS_PASSWORD\""], check=True,
                         capture_output=True, text=True).stdout
    assert out == CREDS["password"]


def test_clouds_yaml():
    cloud = yaml.safe_load(clouds_text(CREDS))["clouds"]["berth-admin"]
    assert cloud["auth"]["password"] == CREDS["password"]
    assert cloud["region_name"] == "RegionOne"
