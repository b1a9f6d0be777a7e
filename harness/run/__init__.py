"""The run half: boot a built kernel in QEMU and drive it over SSH and its console.

session wires it: machine_spec -> machine (qemu, ports, console, reaper) ->
ssh shell -> workloads and snapshots of debugfs, with crash reports from the
console and each test's reproduce.sh and run metadata written as it goes.
"""
