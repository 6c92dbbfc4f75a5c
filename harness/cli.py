"""The `classcert` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classcert import __version__


def _cmd_run(args: argparse.Namespace) -> int:
    from classcert.campaign_run import RunOptions, run_campaign

    out = Path(args.out) if args.out else Path("out") / Path(args.rig).stem
    return run_campaign(RunOptions(
        rig=Path(args.rig), out=out, profile=args.profile, rooms=tuple(args.room),
        resume=args.resume, fresh=args.fresh,
        attest=Path(args.attest) if args.attest else None, operator=args.operator,
        no_prompt=args.no_prompt,
    ))


def _cmd_demo(args: argparse.Namespace) -> int:
    from classcert.demo import run_demo

    out = args.out or ("out/demo" if args.school == "cq-jj" else f"out/demo-{args.school}")
    return run_demo(Path(out), args.school)


def _cmd_verify(args: argparse.Namespace) -> int:
    from classcert.signing import verify_file

    trusted = None
    if args.trust:
        import base64

        trusted = [base64.b64decode(Path(t).read_text().strip()) for t in args.trust]
    worst = 0
    for name in args.files:
        result = verify_file(Path(name), trusted_keys=trusted)
        if result.ok:
            print(f"OK   {name}: signature valid (key {result.key_id}) / 签名有效")
        else:
            print(f"BAD  {name}: {result.reason_en} / {result.reason_zh}")
            worst = 1
    return worst


def _cmd_requirements(args: argparse.Namespace) -> int:
    from classcert.catalog import CatalogError, format_requirements, load_catalog

    try:
        catalog = load_catalog(args.profile)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_requirements(catalog, lang=args.lang, kind=args.kind))
    return 0


def _cmd_rig_check(args: argparse.Namespace) -> int:
    from classcert.rig import RigError, load_rig

    try:
        rig = load_rig(Path(args.file))
    except RigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{args.file}: OK - {rig.school.name}, {len(rig.rooms)} rooms, profile "
          f"{rig.school.profile} / 场地文件有效")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="classcert",
        description=(
            "Conformance harness for smart-classroom equipment / 智慧教室设备符合性测试工具"
        ),
    )
    p.add_argument("--version", action="version", version=f"classcert {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a campaign over a rig / 按场地文件执行测试")
    run.add_argument("--rig", required=True, help="rig file (TOML)")
    run.add_argument("--out", help="output directory (default out/<rig name>)")
    run.add_argument("--profile", help="catalog profile (default: the rig's)")
    run.add_argument("--room", action="append", default=[], help="only this room (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted campaign")
    run.add_argument("--fresh", action="store_true", help="discard an earlier campaign in --out")
    run.add_argument("--attest", metavar="FILE",
                     help="operator answers prepared in advance (TOML, see docs/attestations.md)")
    run.add_argument("--operator", metavar="NAME", help="your name, recorded with each answer")
    run.add_argument("--no-prompt", action="store_true",
                     help="never ask at the terminal; unanswered questions are NOT_TESTED")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="run the simulated demo school / 运行模拟学校演示")
    demo.add_argument("--out", help="output directory (default out/demo, or out/demo-<school>)")
    demo.add_argument("--school", choices=("cq-jj", "hz3"), default="cq-jj",
                      help="which demo school: Chongqing basic (default) or Huzhou 3.0")
    demo.set_defaults(func=_cmd_demo)

    ver = sub.add_parser("verify", help="verify certificate signatures / 验证证书签名")
    ver.add_argument("files", nargs="+")
    ver.add_argument("--trust", action="append", help="file with a trusted base64 public key")
    ver.set_defaults(func=_cmd_verify)

    req = sub.add_parser("requirements", help="list a profile's requirements / 列出标准要求")
    req.add_argument("--profile", required=True)
    req.add_argument("--lang", choices=("en", "zh"), default="en")
    req.add_argument("--kind", help="only this classroom kind")
    req.set_defaults(func=_cmd_requirements)

    from classcert.monitor_cli import add_monitor_parser
    from classcert.video_cli import add_video_parser

    add_monitor_parser(sub)
    add_video_parser(sub)

    rig = sub.add_parser("rig", help="rig file tools / 场地文件工具")
    rig_sub = rig.add_subparsers(dest="rig_command", required=True)
    check = rig_sub.add_parser("check", help="validate a rig file / 校验场地文件")
    check.add_argument("file")
    check.set_defaults(func=_cmd_rig_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted / 已中断", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
