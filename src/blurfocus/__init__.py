"""blurfocus: where an image classifier looks, and how fine-tuning on blurred images moves it.

The library behind the Snakemake workflow. Modules are named for what they hold:
``config`` (validation), ``images``/``ingest``/``synthetic`` (data), ``blur``, ``models``,
``train``, ``evaluate``, ``saliency``, ``focus``, ``stats``, ``figures``, ``report``.
"""

__version__ = "0.1.0"
