"""Facts and definitions: service definitions (desired shape), observed engine state, hashes."""
