"""The benchmark's arithmetic: ratios, per-packet fits and who set the limit."""

from __future__ import annotations

from bench.sfu import CaseResult, report


def case(server: str, k: int, cpu: float, fps: float = 30.0, generator: float = 10.0) -> CaseResult:
    return CaseResult(
        server=server,
        k=k,
        server_cpu_pct=cpu,
        server_rss_mib=100,
        generator_cpu_pct=generator,
        received_pps=150.0,
        forwarded_pps=150.0 * max(k, 0),
        fps=[fps] * max(k, 0),
    )


def test_report_fits_and_ratios() -> None:
    results = [
        case("project", -1, 1.0),
        case("project", 0, 4.0),
        *[case("project", k, 4.0 + 150 * k * 30e-6 * 100) for k in (1, 2, 4, 8)],
        case("baseline_mediarelay", 4, 80.0),
        case("baseline_mediarelay", 8, 150.0),
    ]
    out = report(results)
    assert out["server_cpu_us_per_forwarded_packet"] == 30.0
    assert out["server_cpu_us_per_received_packet"] == 200.0
    assert out["ratio_baseline_over_project_cpu"]["k8"] == round(150.0 / (4.0 + 3.6), 2)
    assert out["largest_k_all_at_28fps"] == 8
    assert out["limited_by"].startswith("none")


def test_limit_is_attributed() -> None:
    results = [
        case("project", 0, 4.0),
        case("project", 16, 50.0),
        case("project", 32, 95.0, fps=20),
    ]
    assert report(results)["limited_by"] == "server"
    results[-1] = case("project", 32, 40.0, fps=20, generator=97.0)
    out = report(results)
    assert out["limited_by"] == "load generator"
    assert out["largest_k_all_at_28fps"] == 16
