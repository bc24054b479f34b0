"""Image builds: base rootfs, recipe rendering, the image tree, the cached parallel builder, registry, bundles."""
