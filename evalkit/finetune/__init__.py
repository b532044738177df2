"""Fine-tuning: local LoRA training on CPU (`evalkit.finetune.local`) and suite-editing helpers."""
