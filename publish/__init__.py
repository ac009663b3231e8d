"""Publishing a run directory to the Hugging Face Hub: the datasets (`publish.dataset`), the
dataset card (`publish.card`) and the push itself (`publish.hub`, the `push_to_hub` stage)."""
