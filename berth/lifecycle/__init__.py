"""Operations on a deployment: render, deploy, prechecks, post-deploy, status."""
