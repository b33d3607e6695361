"""``reconciler set-image``, ``promote`` and ``image-update``: deploys as commits (reconciler.app.setimage,
reconciler.app.imageupdate). One line on stderr says what was written; exit 0, or 1 with a clear message."""

from __future__ import annotations

import argparse

from reconciler.cli.arguments import overrides
from reconciler.cli.output import Err
from reconciler.core.exitcodes import EXIT_OK


def images_command(args: argparse.Namespace, err: Err) -> int:
    from reconciler.app.setimage import CommitOptions, promote, set_image
    from reconciler.app.settings import default_state_dir

    options = CommitOptions(commit=getattr(args, "commit", True), push=args.push, branch=args.branch,
                            message=args.message, state_dir=args.state_dir or default_state_dir())  # fmt: skip
    world = overrides(args)
    if args.command == "set-image":
        err.say(set_image(args.env_dir, args.image, args.tag, world, options))
    elif args.command == "promote":
        only = [name.strip() for name in args.images.split(",") if name.strip()]
        err.say(promote(args.src_dir, args.env_dir, only, world, options))
    else:
        from reconciler.app.imageupdate import image_update

        for line in image_update(args.env_dir, world, options, dry_run=args.dry_run):
            err.say(line)
    return EXIT_OK
