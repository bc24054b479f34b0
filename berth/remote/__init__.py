"""Many hosts: the test lab (several hosts on one machine) and, later, remote execution."""
