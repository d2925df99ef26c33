"""Metric and label names as yet-another-cloudwatch-exporter (YACE) writes them, checked against
examples from YACE's own tests and changelog.

Sources (github.com/prometheus-community/yet-another-cloudwatch-exporter, Apache-2.0):
- pkg/promutil/migrate_test.go at eeafcf71820a9e53cdbb0803710df1b2f4d115e2: TestBuildMetricName,
  TestBuildMetrics, TestBuildNamespaceInfoMetrics;
- pkg/promutil/prometheus_test.go at eb94356e5f349da4ec966eed8324cc003422c4a0: TestSanitize,
  TestPromStringTag, TestPromStringTag_IgnoresGlobalValidationScheme;
- CHANGELOG.md, release 0.59.0 (2024-04-18), at 15fb369c3ffaa46d7e32ab3ce22578cd98444623: metric names
  that no longer repeat their namespace.
"""

from __future__ import annotations

import pytest

from cwotlp.otlp.yace import STATISTICS, label_name, metric_name, snake


@pytest.mark.parametrize(
    ("namespace", "metric", "statistic", "expected"),
    [
        # TestBuildMetricName
        ("AWS/ElastiCache", "CPUUtilization", "Average", "aws_elasticache_cpuutilization_average"),
        (
            "/aws/sagemaker/TrainingJobs",
            "CPUUtilization",
            "Average",
            "aws_sagemaker_trainingjobs_cpuutilization_average",
        ),
        (
            "Glue",
            "glue.driver.aggregate.bytesRead",
            "Average",
            "aws_glue_driver_aggregate_bytes_read_average",
        ),
        (
            "Glue",
            "aggregate.glue.jobs.bytesRead",
            "Average",
            "aws_glue_aggregate_glue_jobs_bytes_read_average",
        ),
        # TestBuildMetrics
        ("AWS/ElastiCache", "FreeableMemory", "Average", "aws_elasticache_freeable_memory_average"),
        ("AWS/ElastiCache", "NetworkBytesIn", "Average", "aws_elasticache_network_bytes_in_average"),
        ("AWS/ElastiCache", "NetworkBytesOut", "Average", "aws_elasticache_network_bytes_out_average"),
        ("AWS/ElastiCache", "NetworkPacketsIn", "Average", "aws_elasticache_network_packets_in_average"),
        ("AWS/ElastiCache", "NetworkPacketsOut", "Average", "aws_elasticache_network_packets_out_average"),
        # TestBuildNamespaceInfoMetrics: info metrics have no statistic
        ("AWS/ElastiCache", "info", "", "aws_elasticache_info"),
        ("/aws/sagemaker/TrainingJobs", "info", "", "aws_sagemaker_trainingjobs_info"),
        # CHANGELOG 0.59.0: names that repeated their namespace
        (
            "AWS/ES",
            "ESReportingFailedRequestSysErrCount",
            "",
            "aws_es_reporting_failed_request_sys_err_count",
        ),
        (
            "AWS/ES",
            "ESReportingFailedRequestUserErrCount",
            "",
            "aws_es_reporting_failed_request_user_err_count",
        ),
        ("AWS/ES", "ESReportingRequestCount", "", "aws_es_reporting_request_count"),
        ("AWS/ES", "ESReportingSuccessCount", "", "aws_es_reporting_success_count"),
        ("AWS/Kafka", "KafkaAppLogsDiskUsed", "", "aws_kafka_app_logs_disk_used"),
        ("AWS/Kafka", "KafkaDataLogsDiskUsed", "", "aws_kafka_data_logs_disk_used"),
        ("AWS/RDS", "RDSToAuroraPostgreSQLReplicaLag", "", "aws_rds_to_aurora_postgre_sqlreplica_lag"),
        (
            "Glue",
            "glue.ALL.jvm.heap.usage",
            "",
            "aws_glue_all_jvm_heap_usage",
        ),  # aws_glue_glue_.* -> aws_glue_.*
    ],
)
def test_metric_names_from_yaces_tests_and_changelog(
    namespace: str, metric: str, statistic: str, expected: str
) -> None:
    assert metric_name(namespace, metric, statistic) == expected


@pytest.mark.parametrize(
    ("statistic", "suffix"),
    [
        ("Sum", "_sum"),
        ("SampleCount", "_sample_count"),
        ("Minimum", "_minimum"),
        ("Maximum", "_maximum"),
        ("Average", "_average"),
        ("p90", "_p90"),
        ("p99.9", "_p99_9"),
    ],
)
def test_statistics_become_suffixes(statistic: str, suffix: str) -> None:
    assert metric_name("AWS/EC2", "CPUUtilization", statistic) == "aws_ec2_cpuutilization" + suffix


def test_the_record_statistics_map_to_yaces_names() -> None:
    assert STATISTICS == {"sum": "Sum", "count": "SampleCount", "min": "Minimum", "max": "Maximum"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("labelName", "label_name"),  # TestPromStringTag, snake case
        ("label_name", "label_name"),
        ("CPUUtilization", "cpuutilization"),
        ("HTTPCode_Target_5XX_Count", "httpcode_target_5_xx_count"),
        ("4xxErrors", "4xx_errors"),
        ("StatusCheckFailed_System", "status_check_failed_system"),
        ("EBSByteBalance%", "ebsbyte_balance_percent"),
        ("a b,c\td/e\\f.g-h:i=j@k<l>m(n)o“p", "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p"),
    ],
)
def test_snake_case(text: str, expected: str) -> None:
    assert snake(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # TestSanitize
        ("Global.Topic.Count", "Global_Topic_Count"),
        ("Status.Check.Failed_Instance", "Status_Check_Failed_Instance"),
        ("IHaveA%Sign", "IHaveA_percentSign"),
        # TestPromStringTag without snake case (YACE's default)
        ("labelName", "labelName"),
        ("label_name", "label_name"),
        # TestPromStringTag: not a valid label name, left out
        ("invalidChars@$", None),
        # TestPromStringTag_IgnoresGlobalValidationScheme: a leading digit is refused
        ("1stLabel", None),
        # TestBuildMetrics labels
        ("CacheClusterId", "CacheClusterId"),
        ("InstanceId", "InstanceId"),
        ("Ünïcode", None),
    ],
)
def test_label_names(name: str, expected: str | None) -> None:
    found = label_name("dimension_", name)
    assert found == (None if expected is None else "dimension_" + expected)
