"""Boot to first SSH command: PVH vmlinux (what the harness boots) vs bzImage (baseline)."""

from dataclasses import replace

from harness.bench import lab

RUNS = 3


def bench_boot() -> list[str]:
    kut = lab.kernel("upstream-7.3")
    results = lab.results_dir("boot")
    times: dict[str, list[float]] = {"vmlinux (PVH)": [], "bzImage": []}
    for run in range(RUNS):
        for name, image in (("vmlinux (PVH)", kut.vmlinux), ("bzImage", kut.bzimage)):
            spec = replace(lab.spec_for(kut), kernel=image)

            def first_command():
                with lab.booted(kut, spec, f"{name}-{run}", results) as vm:
                    vm.shell().check(["true"])
                    return vm.boot_seconds
            seconds, _ = lab.timed(first_command)
            times[name].append(seconds)
    pvh, baseline = lab.median(times["vmlinux (PVH)"]), lab.median(times["bzImage"])
    return [
        f"boot to first SSH command and shutdown, TCG, median of {RUNS} ({kut.label}):",
        f"  bzImage (baseline)  {baseline:6.1f} s   runs {', '.join(f'{t:.1f}' for t in times['bzImage'])}",
        f"  vmlinux via PVH     {pvh:6.1f} s   runs {', '.join(f'{t:.1f}' for t in times['vmlinux (PVH)'])}",
        f"  ratio PVH / bzImage {pvh / baseline:6.2f}",
    ]
