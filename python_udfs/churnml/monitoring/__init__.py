"""Watching deployed models: reference profiles and drift (profile, drift), prediction logs and
realized performance (prediction_log, realized), and gated retraining (retraining)."""
