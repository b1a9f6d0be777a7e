"""mmharness command line: each pipeline stage alone, or all of them."""

import argparse
import subprocess
import sys
from pathlib import Path

from harness import paths
from harness.build import checkpatch, manifest as manifests, pipeline
from harness.errors import HarnessError
from harness.results import metrics, triage
from harness.results.parse import cli as parse_cli


def cmd_fetch(args: argparse.Namespace) -> int:
    for manifest in manifests.load_all(args.manifest):
        tree = pipeline.fetch(manifest)
        print(f"{tree.identity}: {tree.path}")
        for key, value in tree.provenance.items():
            print(f"  {key}: {value}")
    return 0


def cmd_patch(args: argparse.Namespace) -> int:
    for manifest in manifests.load_all(args.manifest):
        patched = pipeline.patch(manifest, pipeline.fetch(manifest))
        print(f"{patched.tree.path}: {', '.join(patched.series) or 'no series'} (log: {patched.log})")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    for manifest in manifests.load_all(args.manifest):
        patched = pipeline.patch(manifest, pipeline.fetch(manifest))
        for ref in manifest.builds:
            configured = pipeline.configure(ref, patched)
            for note in configured.result.expected_unknown:
                print(f"note: {note}")
            print(f"{manifest.name} {ref.label}: verified {configured.result.config} "
                  f"(fragment {configured.result.fragment})")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    for manifest in manifests.load_all(args.manifest):
        pipeline.build_all(manifest, say=lambda text, name=manifest.name: print(f"[{name}] {text}", flush=True))
    return 0


def cmd_checkpatch(args: argparse.Namespace) -> int:
    manifest = manifests.load(args.manifest)
    tree = pipeline.fetch(manifest)
    failed = 0
    for one in pipeline.series_to_apply(manifest):
        log = paths.cache_dir("logs") / f"checkpatch-{one.name}.log"
        for report in checkpatch.check_series(tree.path, one, log):
            print(f"{report.patch.name}: {report.errors} errors, {report.warnings} warnings, {report.checks} checks")
            failed += report.errors > 0
        print(f"{one.name}: full output in {log}")
    return 1 if failed else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.results import compare  # scipy and matplotlib load only for this command

    first, second = metrics.load(args.a), metrics.load(args.b)
    rows = compare.compare(first, second, args.alpha)
    out = Path(args.out) if args.out else Path(args.a.partition("#")[0])
    out.mkdir(parents=True, exist_ok=True)
    table = compare.markdown_table(first, second, rows, args.alpha)
    stem = f"compare-{paths.safe_name(first.label)}-vs-{paths.safe_name(second.label)}"
    report = out / f"{stem}.md"
    report.write_text(f"# {first.label} (A) vs {second.label} (B)\n\n{table}\n{compare.methods(rows)}")
    print(table, end="")
    print(f"table: {report}")
    for image in compare.plot(first, second, out, stem):
        print(f"plot: {image}")
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    from harness.run import openssh, session  # paramiko and pexpect load only for this command

    overrides = boot_overrides(args)  # bad arguments fail before any build
    manifest = manifests.load(args.manifest)
    results = paths.new_results_dir(f"boot-{paths.safe_name(manifest.name)}")
    print(f"results: {results}", flush=True)
    kernel = session.kernel_under_test(manifest, args.label,
                                       say=lambda text: print(f"[{manifest.name}] {text}", flush=True))
    spec = session.machine_spec(kernel, overrides)
    image = session.guest_image(manifest.guest)
    with session.booted(spec, image, results) as vm:
        print(f"booted {kernel.label} in {vm.boot_seconds:.1f} s ({vm.accel}); ssh port {vm.port}", flush=True)
        shell = vm.shell()  # waits for sshd
        if args.command:
            command = args.command[0] if len(args.command) == 1 else args.command
            result = shell.run(command, timeout=args.timeout)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            sys.stdout.flush()
            return result.status if result.status >= 0 else 255
        known_hosts = openssh.write_known_hosts(results / "known_hosts", vm.port, image.host_key)
        argv = openssh.ssh_argv(port=vm.port, client_key=image.client_key, known_hosts=known_hosts)
        print(f"$ {' '.join(argv)}", flush=True)
        return subprocess.run(argv, check=False).returncode


def boot_overrides(args: argparse.Namespace):
    from harness.run import session
    from harness.run.machine_spec import Disk

    disks = () if args.no_disks else tuple(_disk(text, Disk) for text in args.disk) if args.disk else None
    return session.Overrides(cmdline=args.cmdline, memory_mb=args.memory, cpus=args.cpus, disks=disks)


def _disk(text: str, disk_type):
    size, _, kind = text.partition(",")
    if not size.isdigit() or kind not in ("", "swap"):
        raise HarnessError(f"--disk {text!r}: expected SIZE_MB or SIZE_MB,swap", hint="e.g. --disk 1024,swap")
    return disk_type(int(size), swap=kind == "swap")


def cmd_parse(args: argparse.Namespace) -> int:
    return parse_cli.run(args)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.results import report  # matplotlib loads only for this command

    loaded = report.load(args.results_dir, args.junit)
    out = Path(args.out) if args.out else Path(args.results_dir) / "report.html"
    page, *images = report.render(loaded, out, plots=not args.no_plots)
    bad = sum(test.bad for test in loaded.tests)
    source = f"JUnit {loaded.junit}" if loaded.junit else "no JUnit XML: outcomes inferred or unknown"
    print(f"{len(loaded.tests)} tests, {bad} failed ({source})")
    for image in images:
        print(f"plot: {image}")
    print(f"report: {page}")
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    result = triage.triage(args.console_log)
    print(result.render())
    return result.exit_code


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmharness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function, text in (
        ("fetch", cmd_fetch, "fetch and cache the kernel source"),
        ("patch", cmd_patch, "apply the manifest's patch series"),
        ("config", cmd_config, "render, merge and verify each build's .config"),
        ("build", cmd_build, "build every kernel of the manifest (cached by input)"),
        ("checkpatch", cmd_checkpatch, "run the tree's checkpatch.pl --strict on the manifest's series"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--manifest", "-m", default="default", help="manifest name or YAML path")
        sub.set_defaults(function=function)
    sub = commands.add_parser("boot", help="boot the manifest's kernel; run COMMAND over SSH, or open an ssh session")
    sub.add_argument("--manifest", "-m", default="default", help="manifest name or YAML path")
    sub.add_argument("--label", default=None, help="which of the manifest's builds (default: the first bootable)")
    sub.add_argument("--cmdline", default="", help="appended to the kernel command line")
    sub.add_argument("--memory", type=int, default=None, metavar="MB", help="guest memory (default: the manifest's)")
    sub.add_argument("--cpus", type=int, default=None, help="vCPUs (default: the manifest's)")
    sub.add_argument("--disk", action="append", default=[], metavar="MB[,swap]",
                     help="an extra disk, swap-formatted with ',swap' (repeatable; default: the manifest's swap disk)")
    sub.add_argument("--no-disks", action="store_true", help="no extra disk at all")
    sub.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                     help="how long COMMAND may run (default 3600)")
    sub.add_argument("command", nargs="*", metavar="COMMAND",
                     help="after --: run this in the guest (one word: a shell command line) and exit with its status")
    sub.set_defaults(function=cmd_boot)
    sub = commands.add_parser("compare", help="compare two result sets: mean, sd, difference, Welch's t-test, plots")
    sub.add_argument("a", metavar="A", help="results directory, or DIR#KERNEL for one kernel in it (the baseline)")
    sub.add_argument("b", metavar="B", help="the result set compared against A")
    sub.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    sub.add_argument("--out", help="where the table and plots go (default: A's results directory)")
    sub.set_defaults(function=cmd_compare)
    sub = commands.add_parser("parse", help="parse a page_owner / swap_page_owner / stacks dump")
    parse_cli.add_arguments(sub)
    sub.set_defaults(function=cmd_parse)
    sub = commands.add_parser("report", help="write a static HTML page summarising a results directory")
    sub.add_argument("results_dir", metavar="RESULTS_DIR", type=Path, help="a results directory of a kernel test session")
    sub.add_argument("--out", help="the page (default RESULTS_DIR/report.html); its PNG plots go beside it")
    sub.add_argument("--junit", type=Path, help="JUnit XML of the run (default: a junit*.xml of this run "
                                                 "in RESULTS_DIR or its parent)")
    sub.add_argument("--no-plots", action="store_true", help="metrics as tables only, no PNG plots")
    sub.set_defaults(function=cmd_report)
    sub = commands.add_parser("triage", help="print the crash reports in a console log; exit 1 if any is fatal")
    sub.add_argument("console_log", metavar="CONSOLE_LOG", type=Path, help="a console.log of a run")
    sub.set_defaults(function=cmd_triage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.function(args)
    except HarnessError as error:
        print(f"mmharness {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mmharness {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
