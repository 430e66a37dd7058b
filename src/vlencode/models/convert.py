"""Convert a release file (SLIP, ALBEF, BLIP) into a network directory vlencode loads (registry backend ``release``).

Usage::

    python -m vlencode.models.convert slip  slip_base_25ep.pt            resources/models/slip-vit-b16
    python -m vlencode.models.convert albef ALBEF.pth --image-size 224   resources/models/albef-14m
    python -m vlencode.models.convert blip  model_base_capfilt_large.pth resources/models/blip-base

The release file is read without unpickling code (:func:`vlencode.models.checkpoints.read_release_checkpoint`), its
weights mapped onto vlencode's class for it (:mod:`vlencode.models.slip`, :mod:`vlencode.models.fusion`) and checked
to fit it exactly (no missing, no unexpected key), and written as ``config.json`` + ``model.safetensors`` with the
release file's sha256 and the conversion options.  ``docs/models.md`` lists each release's address.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vlencode.models.checkpoints import CheckpointError, read_release_checkpoint, save_network, source_record

if TYPE_CHECKING:
    from vlencode.models.fusion import FusionConfig
    from vlencode.models.slip import SlipConfig

log = logging.getLogger("vlencode.models")

#: Release kinds and the network type each converts to.
KINDS = {"slip": "slip", "albef": "fusion", "blip": "fusion"}


def convert_release(
    kind: str,
    release_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    image_size: int = 224,
    fold_token_type: bool = True,
    trust_pickle: bool = False,
) -> Path:
    """Convert one release file into a network directory.

    Parameters
    ----------
    kind
        ``slip`` (the SLIP release's SimCLR, CLIP and SLIP files; the file's ``args.model`` says which), ``albef`` or
        ``blip`` (:data:`KINDS`).
    release_file, out_dir
        The downloaded file and the directory to write (replaced atomically).
    image_size
        ALBEF and BLIP: the input size the position embeddings are interpolated to (the study ran 224 px; ALBEF was
        trained at 256, BLIP base at 224).  The SLIP release's towers take 224 px.
    fold_token_type
        ALBEF: add the token-type embedding of segment 0 to the position embeddings, as the release's BERT does
        (False drops it, as LAVIS's loader, which the study used, silently does).
    trust_pickle
        Unpickle every type the file holds (only for a file you trust).

    Raises
    ------
    CheckpointError
        An unreadable file, a foreign pickled type, or weights that do not fit the network (one line).
    """
    if kind not in KINDS:
        raise CheckpointError(f"unknown release kind {kind!r}; use one of {', '.join(KINDS)}")
    container = read_release_checkpoint(release_file, trust_pickle=trust_pickle)
    config: SlipConfig | FusionConfig
    if kind == "slip":
        from vlencode.models.slip import convert_slip

        config, weights = convert_slip(release_file, container)
        options = {}
    elif kind == "albef":
        from vlencode.models.fusion import convert_albef

        config, weights = convert_albef(release_file, container, image_size=image_size, fold_token_type=fold_token_type)
        options = {"image_size": image_size, "fold_token_type": fold_token_type}
    else:
        from vlencode.models.fusion import convert_blip

        config, weights = convert_blip(release_file, container, image_size=image_size)
        options = {"image_size": image_size}
    record = source_record(release_file, kind=kind, **options)
    return save_network(out_dir, KINDS[kind], config.as_dict(), weights, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlencode.models.convert", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS), help="which release the file comes from")
    parser.add_argument("release_file", help="the downloaded release file")
    parser.add_argument("out_dir", help="the network directory to write (the registry entry's source)")
    parser.add_argument("--image-size", type=int, default=224, help="ALBEF/BLIP input size in pixels (default 224)")
    parser.add_argument(
        "--drop-token-type",
        action="store_true",
        help="ALBEF: drop the token-type embedding as LAVIS (the study) does, instead of folding it in",
    )
    parser.add_argument("--trust-pickle", action="store_true", help="unpickle every type (a file you trust only)")
    args = parser.parse_args(argv)
    try:
        out = convert_release(
            args.kind,
            args.release_file,
            args.out_dir,
            image_size=args.image_size,
            fold_token_type=not args.drop_token_type,
            trust_pickle=args.trust_pickle,
        )
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
