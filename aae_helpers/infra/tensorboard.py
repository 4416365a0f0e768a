"""Optional TensorBoard logging, as the articles had: losses, codes against the prior, images."""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(keras.callbacks.Callback):
    """Each epoch, write every loss, a histogram of the encoder's codes for `images` (beside
    prior samples where the trainer has a prior) and an inputs/reconstructions image grid.

    images: float32 (n, 784) in [0, 1]; labels: (n,) digits. View with `tensorboard --logdir LOG_DIR`.
    """

    def __init__(self, log_dir, images, labels, num_images=8):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.images = np.asarray(images[:256], dtype=np.float32)
        self.labels = np.asarray(labels[:256])
        self.num_images = num_images

    def on_epoch_end(self, epoch, logs=None):
        from aae_helpers.trainers import SupervisedAdversarialAutoencoder

        model = self.model
        with self.writer.as_default(step=epoch + 1):
            for key, value in (logs or {}).items():
                tf.summary.scalar(key, float(value))
            if hasattr(model, "encoder"):
                encoded = model.encoder(self.images, training=False)
                # z is the encoder's last output (SS-AAE: [logits, z]; VAE: [mean, log_var, z]).
                tf.summary.histogram("codes", encoded[-1] if isinstance(encoded, (list, tuple)) else encoded)
            if hasattr(model, "draw_prior"):
                tf.summary.histogram("prior_samples", model.draw_prior(len(self.images)))
            if hasattr(model, "reconstruct"):
                shown = self.images[:self.num_images]
                if isinstance(model, SupervisedAdversarialAutoencoder):
                    reconstructions = model.reconstruct(shown, self.labels[:self.num_images])
                else:
                    reconstructions = model.reconstruct(shown)
                grid = np.concatenate([shown, reconstructions]).reshape(-1, 28, 28, 1)
                tf.summary.image("inputs_then_reconstructions", grid, max_outputs=len(grid))
        self.writer.flush()
