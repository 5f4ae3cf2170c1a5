"""blurfocus: where an image classifier looks, and how fine-tuning on blurred images moves it.

The library behind the Snakemake workflow. Modules are named for what they hold:
``config`` (validation), ``images``/``ingest``/``synthetic`` (data), ``blur``, ``models``,
``train``, ``evaluate``, ``smoothgrad`` (the SmoothGrad engine; its settings in
``smoothgrad_settings``), ``mapstore`` (the Parquet map store), ``topk`` (a map's focus),
``selection`` (which images get maps, in which shard), ``focus``, ``stats``, ``figures``, ``report``.
Only modules that run a model import torch.
"""

__version__ = "0.1.0"
