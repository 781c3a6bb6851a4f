"""Launcher signatures in plans (codegen/binaries.py): data that Triton's own generator turns into
its C launchers, validated before use; never code from the plan."""

from __future__ import annotations

import types
from typing import Any

from tritium.codegen import binaries
from tritium.codegen.binaries import launcher_signatures, prebuild_launchers, valid_launcher
from tritium.codegen.triton_env import wait_for_warm_up

ENTRY = {
    "signature": [
        ["in0_ptr", "*fp16"],
        ["out0_ptr", "*fp32"],
        ["N", "i32"],
        ["a_desc", "tensordesc<fp16[16, 128]>"],
        ["BLOCK", "constexpr"],
    ],
    "constants": [[[4], 1024]],
    "tensordesc_meta": [{"swizzle": 128, "elem_size": 2, "block_size": [16, 128]}],
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**ENTRY, **changes}


def test_only_well_formed_signatures_are_accepted() -> None:
    assert valid_launcher(ENTRY)
    assert valid_launcher(with_(tensordesc_meta=None, constants=[]))
    bad = [
        with_(signature=[["x", "i32); abort("]]),  # not a Triton type
        with_(signature=[["x y", "i32"]]),  # not an identifier
        with_(signature=[]),
        with_(signature=[["x", "i32"]] * 300),
        with_(constants=[[[4], [1, 2]]]),  # a constant is a scalar
        with_(constants=[[["4"], 1]]),  # indices are ints
        with_(constants=[[[True], 1]]),
        with_(tensordesc_meta={"swizzle": 128}),  # a list of descriptors
        with_(tensordesc_meta=[[[[[[1]]]]]]),  # too deep
        with_(tensordesc_meta=[{"swizzle": '"); abort(); ("'}]),  # no strings: they could reach C text
        with_(tensordesc_meta=[{"bad key!": 1}]),
        with_(constants=[[[4], "x"]]),
        {"signature": ENTRY["signature"]},  # no constants
        "not a dict",
    ]
    assert not any(valid_launcher(b) for b in bad)


def test_prebuild_calls_tritons_generator_and_build_with_the_signature() -> None:
    calls: list[tuple] = []
    driver = types.SimpleNamespace(
        make_launcher=lambda constants, signature, meta: (
            calls.append(("make", constants, signature, meta)) or "SRC"
        ),
        compile_module_from_src=lambda **kw: calls.append(("build", kw)),
        library_dirs=lambda: ["/lib"],
        include_dirs=["/inc"],
        libraries=["cuda"],
    )
    entry = with_(constants=[[[4], 777]])  # distinct from other tests' entries (one build per process)
    assert prebuild_launchers([entry, with_(signature=[["x", "bad type!"]])], driver) == 1
    wait_for_warm_up()
    make, build = calls
    assert make == ("make", {(4,): 777}, dict(ENTRY["signature"]), ENTRY["tensordesc_meta"])
    assert list(make[2]) == [n for n, _ in ENTRY["signature"]]  # argument order kept
    assert build == (
        "build",
        {
            "src": "SRC",
            "name": "__triton_launcher",
            "library_dirs": ["/lib"],
            "include_dirs": ["/inc"],
            "libraries": ["cuda"],
        },
    )


def test_a_triton_without_per_signature_launchers_builds_none() -> None:
    assert prebuild_launchers([ENTRY], types.SimpleNamespace()) == 0


def test_signatures_come_from_the_kept_variants(monkeypatch) -> None:
    """One entry per distinct signature, from variants built with the chosen config only."""

    def variant(block: int, n_type: str) -> Any:
        fn = types.SimpleNamespace(arg_names=["in0_ptr", "N", "BLOCK"])
        src = types.SimpleNamespace(
            fn=fn, signature={"in0_ptr": "*fp16", "N": n_type, "BLOCK": "constexpr"}, constants={(2,): block}
        )
        meta = types.SimpleNamespace(num_warps=4, num_stages=3, tensordesc_meta=None)
        return types.SimpleNamespace(src=src, metadata=meta)

    kept = [variant(64, "i32"), variant(64, "i32"), variant(64, "i64"), variant(128, "i32")]
    monkeypatch.setattr(binaries, "_compiled_kernels", lambda mod: iter(kept))
    got = launcher_signatures([(types.ModuleType("k"), [{"BLOCK": 64, "num_warps": 4}])])
    assert [e["signature"][1][1] for e in got] == ["i32", "i64"]  # BLOCK 128 was a tuning candidate
    assert all(e["constants"] == [[[2], 64]] and valid_launcher(e) for e in got)


def test_variants_sharing_a_launcher_build_it_once() -> None:
    """Signatures that differ only in constants generate one launcher source: one build."""
    built: list[str] = []
    driver = fake_driver(built)
    entries = [with_(constants=[[[4], b]]) for b in (16, 32, 64)]
    entries.append(with_(constants=[[[4], 16]], signature=[["x", "i64"]]))
    assert prebuild_launchers(entries, driver) == 4
    wait_for_warm_up()
    assert sorted(built) == sorted(["SRC-" + ",".join(t for _, t in ENTRY["signature"]), "SRC-i64"])


def fake_driver(built: list, **extra: Any) -> Any:
    return types.SimpleNamespace(
        make_launcher=lambda constants, signature, meta: "SRC-" + ",".join(signature.values()),
        compile_module_from_src=lambda **kw: built.append(kw["src"]),
        library_dirs=lambda: [],
        include_dirs=[],
        libraries=[],
        **extra,
    )


def test_descriptor_types_are_bounded() -> None:
    """At most five dimensions (what TMA takes) and no layout text: a signature cannot expand into
    a launcher with thousands of arguments."""
    assert valid_launcher(with_(signature=[["d", "tensordesc<bf16[1, 2, 3, 4, 5]>"]]))
    for t in (
        "tensordesc<fp16[1, 2, 3, 4, 5, 6]>",
        "tensordesc<fp16[,,,,]>",
        "tensordesc<fp16[16, 16],#shared>",
    ):
        assert not valid_launcher(with_(signature=[["d", t]]))
    assert not valid_launcher(with_(signature=[["x", "i32"]] * 97))


def test_launchers_wait_for_tritons_setup(monkeypatch) -> None:
    """Launchers build only after the thread that sets up Triton's driver is done (a launcher loaded
    before it keeps no tensor-map type), and not at all if the driver did not come up."""
    import threading

    from tritium.codegen import triton_env

    release = threading.Event()
    setup = threading.Thread(target=release.wait, daemon=True)
    setup.start()
    monkeypatch.setitem(triton_env._warm_ups, "triton", setup)
    built: list[str] = []
    assert prebuild_launchers([with_(constants=[[[4], 4242]])], fake_driver(built)) == 1
    setup.join(0.3)
    assert built == []  # still waiting for Triton's setup
    release.set()
    wait_for_warm_up()
    assert built == ["SRC-" + ",".join(t for _, t in ENTRY["signature"])]

    none: list[str] = []
    prebuild_launchers([with_(constants=[[[4], 4343]])], fake_driver(none, PyCUtensorMap=None))
    wait_for_warm_up()
    assert none == []  # the driver's tensor-map type is not there: Triton builds on demand


def test_pdl_triggers_early_only_for_grids_of_one_wave(monkeypatch) -> None:
    """Programmatic dependent launch: every launch waits (PDL 1); a grid of at most one program per
    SM also lets the next kernel launch at once (2); TRITIUM_PDL_TRIGGER=start / =exit force either
    way; without PDL (no Hopper, the interpreter) no launch option is added at all."""
    from tritium.codegen import triton_env

    monkeypatch.setattr(triton_env, "pdl_available", lambda: True)
    monkeypatch.setattr(triton_env, "sm_count", lambda: 132)
    monkeypatch.delenv("TRITIUM_PDL_TRIGGER", raising=False)
    assert triton_env.pdl_kwargs((132, 1)) == {"PDL": 2, "launch_pdl": True}
    assert triton_env.pdl_kwargs((67, 2)) == {"PDL": 1, "launch_pdl": True}
    monkeypatch.setenv("TRITIUM_PDL_TRIGGER", "start")
    assert triton_env.pdl_kwargs((1000,))["PDL"] == 2
    monkeypatch.setenv("TRITIUM_PDL_TRIGGER", "exit")
    assert triton_env.pdl_kwargs((1,))["PDL"] == 1
    monkeypatch.setattr(triton_env, "pdl_available", lambda: False)
    assert triton_env.pdl_kwargs((1,)) == {}


def test_every_kernel_starts_with_the_pdl_prologue() -> None:
    """finish_source gives each jitted kernel (not a helper) a PDL flag, off by default, and the
    prologue: wait when on, trigger the next launch only when 2."""
    from tritium.codegen.lowering import finish_source

    src = "import triton\n\n@triton.jit\ndef k(x_ptr, BLOCK: tl.constexpr):\n    pass\n"
    out = finish_source(src)
    assert "def k(x_ptr, BLOCK: tl.constexpr, PDL: tl.constexpr = 0):" in out
    body = out[out.index("def k(") :].split("\n")[1:6]
    assert body[0].strip().startswith("if PDL:") and "gdc_wait()" in body[1]
    assert body[2].strip().startswith("if PDL == 2:") and "gdc_launch_dependents()" in body[3]
