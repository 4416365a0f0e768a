"""Priors: distributions the encoder's codes are pushed towards, chosen by name.

Every sampler has the same signature ``(num_samples, latent_dim, seed=None, **options)``
and returns a float32 tensor of shape (num_samples, latent_dim). `seed` is an
int, a `keras.random.SeedGenerator` (used inside training steps) or None.
"""

import math

import keras
from keras import ops

from aae_helpers.checks import check_number


def sample_gaussian(num_samples, latent_dim, seed=None, std=5.0):
    """N(0, std^2 I); the articles use std = 5."""
    return keras.random.normal((num_samples, latent_dim), stddev=std, seed=seed)


def sample_uniform(num_samples, latent_dim, seed=None, std=5.0):
    """Uniform on the cube [-a, a]^latent_dim, with a chosen so each coordinate has std `std`."""
    half_width = std * math.sqrt(3.0)
    return keras.random.uniform((num_samples, latent_dim), -half_width, half_width, seed=seed)


def _require_2d(name, latent_dim):
    if latent_dim != 2:
        raise ValueError(f"the {name} prior is a 2-D distribution, got latent_dim={latent_dim}; "
                         "use latent_dim=2 or a 'gaussian'/'uniform' prior.")


def sample_mixture_of_gaussians(num_samples, latent_dim, seed=None, std=5.0, num_components=10):
    """10 elongated Gaussians placed evenly on a circle (2-D only), as in the AAE paper."""
    _require_2d("mixture_of_gaussians", latent_dim)
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)
    component = keras.random.randint((num_samples,), 0, num_components, seed=seed)
    angle = ops.cast(component, "float32") * (2.0 * math.pi / num_components)
    noise = keras.random.normal((num_samples, 2), seed=seed)
    along, across = noise[:, 0] * (0.5 * std), noise[:, 1] * (0.1 * std)
    radius = 1.4 * std + along   # elongated along the radius
    x = radius * ops.cos(angle) - across * ops.sin(angle)
    y = radius * ops.sin(angle) + across * ops.cos(angle)
    return ops.stack([x, y], axis=1)


def sample_swiss_roll(num_samples, latent_dim, seed=None, std=5.0):
    """A 2-D swiss roll spiral (2-D only), as in the AAE paper, scaled to about +-2 std."""
    _require_2d("swiss_roll", latent_dim)
    if not isinstance(seed, keras.random.SeedGenerator):
        seed = keras.random.SeedGenerator(seed)
    position = ops.sqrt(keras.random.uniform((num_samples,), 0.0, 1.0, seed=seed))
    turns = position * 3.0 * math.pi + math.pi / 2
    radius = position * 2.0 * std
    jitter = keras.random.normal((num_samples, 2), stddev=0.05 * std, seed=seed)
    return ops.stack([radius * ops.cos(turns), radius * ops.sin(turns)], axis=1) + jitter


def sample_categorical(num_samples, latent_dim, seed=None, std=None):
    """One-hot vectors of a uniformly drawn class; latent_dim is the number of classes."""
    classes = keras.random.randint((num_samples,), 0, latent_dim, seed=seed)
    return ops.one_hot(classes, latent_dim)


__all__ = ["PRIORS", "sample_prior", "get_prior"]

PRIORS = {
    "gaussian": sample_gaussian,
    "uniform": sample_uniform,
    "mixture_of_gaussians": sample_mixture_of_gaussians,
    "swiss_roll": sample_swiss_roll,
    "categorical": sample_categorical,
}


def get_prior(name):
    """The sampler registered under `name` (see PRIORS)."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {sorted(PRIORS)}.")
    return PRIORS[name]


def sample_prior(name, num_samples, latent_dim, seed=None, **options):
    """Draw (num_samples, latent_dim) samples from the prior called `name`."""
    if int(num_samples) <= 0 or int(latent_dim) <= 0:
        raise ValueError(f"num_samples and latent_dim must be positive, got "
                         f"num_samples={num_samples}, latent_dim={latent_dim}.")
    if options.get("std") is not None:
        check_number(options["std"], "std")
    return get_prior(name)(int(num_samples), int(latent_dim), seed=seed, **options)
