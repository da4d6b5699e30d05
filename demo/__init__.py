"""Bundled demo model: synthetic shape images and the script that trains a classifier on them."""
