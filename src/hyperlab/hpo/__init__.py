"""Real hyperparameters of a real network on MNIST, tuned by every method of the library."""
