"""RT-Sort for SpikeLab: detection network, training, propagation sorting and streaming."""

from .model import DetectionModel, DetectionNet, load_detection_model

__version__ = "0.1.0"
__all__ = ["DetectionModel", "DetectionNet", "load_detection_model", "__version__"]
