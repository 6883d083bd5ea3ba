"""Training: the stage table (three PPO phases and the flat single agent), one PPO LightningModule,
the TorchRL collector feed, GAE and the clipped loss, the curriculum and the Lightning Trainer."""
