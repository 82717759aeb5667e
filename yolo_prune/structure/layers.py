"""Plain layers of the YOLOv8, YOLO11 and YOLO26 bodies: nothing to change for the cut, only their yaml rows.

Usage:
    from yolo_prune.structure.parts import PARTS
    from ultralytics.nn.modules import SPPF

    PARTS[SPPF].row  # Row(out='cv2.conv', ..., input_divisor=2): SPPF builds its first conv at c1 // 2
"""

from __future__ import annotations

from ultralytics.nn.modules import SPPF, Conv

from yolo_prune.structure.parts import Part, Row, register


@register
class ConvPart(Part):
    types = (Conv,)
    row = Row("conv")


@register
class SPPFPart(Part):
    types = (SPPF,)
    row = Row("cv2.conv", input_divisor=2)
