"""The model's providers: its manifest, the decoder, the classifier on each backend, and the
ahead-of-time commands (ONNX export, INT8 quantization). `Container` inherits them, so that one
configuration and one `shutdown_resources` cover the whole tree.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.model import load_manifest
from entrypoints.container import resources


class ModelProviders(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    manifest = providers.Singleton(load_manifest, config.model.manifest)
    decode_limits = providers.Singleton(
        resources.decode_limits,
        max_pixels=config.api.max_pixels,
        max_side=config.api.max_side,
        max_jpeg_scans=config.api.max_jpeg_scans,
    )
    decoder = providers.Resource(
        resources.decoder, manifest, limits=decode_limits, threads=config.model.decode_threads
    )
    # What every backend is given; each adds its own (compile for torch, the export cache for ONNX).
    _model_options = providers.Dict(
        manifest=manifest,
        decoder=decoder,
        device=config.model.device,
        threads=config.model.threads,
        precision=config.model.precision,
    )
    # Built by the worker only (in a thread: loading is seconds of CPU work).
    classifier = providers.Selector(
        config.model.backend,
        torch=providers.Resource(
            resources.torch_classifier, options=_model_options, compile=config.model.compile
        ),
        onnxruntime=providers.Resource(
            resources.onnxruntime_classifier, options=_model_options, cache_dir=config.model.cache_dir
        ),
        openvino=providers.Resource(
            resources.openvino_classifier,
            options=_model_options,
            cache_dir=config.model.cache_dir,
            int8_model=config.model.int8_model,
        ),
    )

    # `inference export-onnx`: what the ONNX backends load, exported ahead of time.
    onnx_export = providers.Callable(
        resources.exported_onnx, manifest=manifest, cache_dir=config.model.cache_dir
    )
    # `inference quantize`: the INT8 model that precision int8 serves (call with the images).
    int8_quantization = providers.Callable(
        resources.int8_quantization,
        manifest=manifest,
        limits=decode_limits,
        threads=config.model.decode_threads,
        cache_dir=config.model.cache_dir,
    )
    # The API describes the model from its manifest, in both modes: at once, while a worker
    # may still be loading (or exporting) the model itself.
    model_info = providers.Callable(lambda manifest: manifest.info, manifest)
