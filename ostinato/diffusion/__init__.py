"""Mel VAE, theory conditioner, latent U-Net, training on Ray Train, sampling and evaluation."""
