#!/bin/sh
# Package installs must never start services inside an image build: berth-start runs the one service.
exit 101
