//! The soak's text report, drawn from its JSON report: totals, statuses and
//! latencies, the load, the server's memory, each fault's figures, the read
//! back, the bars, and the failures.

use serde_json::Value;

/// Prints the JSON `report` as text.
pub fn print_text(report: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "\nsoak: {} requests in {:.1} s ({:.0}/s) over {}",
        report["requests"],
        f(&report["seconds"]),
        f(&report["requests_per_second"]),
        report["tenants"].as_str().unwrap_or("")
    );
    println!(
        "statuses: {}   p50 {:.1} ms   p99 {:.1} ms   slowest {:.0} ms",
        report["statuses"],
        f(&report["p50_ms"]),
        f(&report["p99_ms"]),
        f(&report["slowest_ms"])
    );
    let load = &report["load"];
    println!(
        "load: {}",
        load["offered_requests_per_second"].as_f64().map_or_else(
            || "as fast as the clients go".to_owned(),
            |offered| format!(
                "{offered:.0} requests/s offered after the warm-up ({:.2} of its {:.0}/s)",
                f(&load["fraction"]),
                f(&load["warm_up_requests_per_second"])
            )
        )
    );
    let memory = &report["server_memory"];
    if let (Some(start), Some(peak)) = (
        memory["peak_bytes_after_start"].as_f64(),
        memory["peak_bytes"].as_f64(),
    ) {
        println!(
            "server memory (peak resident): {:.1} MB after start-up, {:.1} MB at the end",
            start / 1e6,
            peak / 1e6
        );
    }
    println!(
        "\n{:<24} {:>6} {:>6} {:>10} {:>6} {:>7} {:>9} {:>11}  AFFECTED ANSWERS (status: count)",
        "FAULT", "AT s", "FOR s", "RECOVERY s", "OTHERS", "CONTROL", "SLOWEST s", "DB CPU"
    );
    for fault in report["faults"].as_array().into_iter().flatten() {
        let recovery = fault["recovery_s"]
            .as_f64()
            .map_or("never".to_owned(), |s| format!("{s:.2}"));
        let ratio = |v: &Value| v.as_f64().map_or("-".to_owned(), |r| format!("{r:.2}"));
        let others = ratio(&fault["others_throughput_ratio"]);
        let db_cpu = match (
            fault["db_cpu_cores_before"].as_f64(),
            fault["db_cpu_cores_during"].as_f64(),
        ) {
            (Some(before), Some(during)) => format!("{before:.2}->{during:.2}"),
            _ => "-".to_owned(),
        };
        println!(
            "{:<24} {:>6.1} {:>6.2} {:>10} {:>6} {:>7} {:>9.2} {:>11}  {} ({} tenants){}",
            fault["fault"].as_str().unwrap_or(""),
            f(&fault["start_s"]),
            f(&fault["end_s"]) - f(&fault["start_s"]),
            recovery,
            others,
            ratio(&fault["others_control_ratio"]),
            f(&fault["slowest_s"]),
            db_cpu,
            fault["affected_statuses"],
            fault["affected"].as_array().map_or(0, Vec::len),
            fault["error"]
                .as_str()
                .map_or(String::new(), |e| format!("  NOT INJECTED: {e}"))
        );
    }
    let rb = &report["read_back"];
    println!(
        "\nread back directly: {} tenants, {} rows; acknowledged {} creates, {} deletes; lost {}, resurrected {}, foreign rows {}, foreign notes in answers {}",
        rb["tenants"],
        rb["rows"],
        rb["acknowledged_creates"],
        rb["acknowledged_deletes"],
        rb["lost"],
        rb["resurrected"],
        rb["foreign_rows"],
        rb["foreign_in_answers"]
    );
    println!();
    for line in report["bar_lines"].as_array().into_iter().flatten() {
        println!("{}", line.as_str().unwrap_or(""));
    }
    let failures = report["failures"].as_array().cloned().unwrap_or_default();
    if failures.is_empty() {
        println!("\nsoak: ok");
    } else {
        println!("\nsoak: FAILED");
        for f in failures {
            println!("  {}", f.as_str().unwrap_or(""));
        }
    }
}
