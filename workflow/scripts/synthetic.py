"""Generate the known-answer synthetic data set (see blurfocus.synthetic)."""

from blurfocus import synthetic
from blurfocus.runtime import run_job


def main(sm, log):
    p = sm.params
    synthetic.generate(
        sm.output.images.rsplit("/images", 1)[0],
        n_per_class=p.n_per_class,
        size=p.size,
        seed=p.seed,
        texture_size=p.texture_size,
        texture_period=p.texture_period,
        texture_contrast=p.texture_contrast,
        shape_size=p.shape_size,
        shape_aspect=p.shape_aspect,
        shape_contrast=p.shape_contrast,
        background_noise=p.background_noise,
        log_fn=log,
    )


run_job(snakemake, main)  # noqa: F821
