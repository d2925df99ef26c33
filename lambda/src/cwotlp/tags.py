"""Resource tags for CloudWatch metrics, looked up with the Resource Groups Tagging API.

A metric carries dimensions, not the ARN of its resource. resource_types.json says, per namespace, which
resource types to list with tag:GetResources and how to read dimension values out of each listed ARN
(named groups, one per dimension name). A metric belongs to the resource whose ARN gives the same values
for those dimensions; the metric may have more dimensions, and the mapping naming the most dimensions
wins (an ECS service before its cluster, an ALB target group before its load balancer). Only API
Gateway v2 ids are mapped: a v1 REST API's ARN holds its id while the ApiName dimension holds its name,
which only GetRestApis could join. RDS proxies are not mapped either: their ARN holds a generated id
while the ProxyName dimension holds the name.

The ELB namespaces all list elasticloadbalancing:loadbalancer (classic, application, network and gateway
load balancers alike): one listing serves the four of them, and the patterns tell the kinds apart by the
app/, net/ or gwy/ their dimension values start with.

Listings (one per account, region and resource type) are cached for the whole process, so a warm Lambda
reuses them across invocations. A lookup that fails never holds a datapoint back: it goes out untagged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from cwotlp.config import TagSettings

log = logging.getLogger("cwotlp")

Tags = tuple[tuple[str, str], ...]
# Position of an ARN pattern in its namespace -> dimension values read by it -> the resource's selected tags.
Index = dict[int, dict[tuple[str, ...], Tags]]

PAGE_LIMIT = 50
RESOURCES_PER_PAGE = 100  # the API's maximum
LISTING_BUDGET_SECONDS = 10.0
FAILED_TTL_SECONDS = 60.0
MAX_CACHED_RESOURCES = 50_000
MAX_CACHED_LISTINGS = 2_000  # failed listings hold no resources but still take an entry
MAX_CACHED_ROLES = 1_000
# Assumed-role credentials are replaced this long before they expire, so no listing starts with
# credentials that lapse halfway through it.
CREDENTIALS_MARGIN_SECONDS = 300.0
ROLE_SESSION_NAME = "cwotlp-resource-tags"


@dataclass
class TagCounters:
    lookups: int = 0  # GetResources listings made (one per account, region and resource type)
    cache_hits: int = 0  # tags() calls answered from cached listings alone
    failures: int = 0  # listings that failed, ran out of time or pages; linked accounts without a role


@dataclass(frozen=True)
class NamespaceMapping:
    resource_types: tuple[str, ...]
    arn_patterns: tuple[re.Pattern[str], ...]
    dimension_names: tuple[tuple[str, ...], ...]  # per pattern, sorted
    # Pattern positions, those naming the most dimensions first, then in the table's order (a target
    # group's metrics carry its load balancer too, so the target group pattern comes first).
    search_order: tuple[int, ...]

    @classmethod
    def of(cls, resource_types: list[str], arn_patterns: list[str]) -> NamespaceMapping:
        patterns = tuple(re.compile(pattern) for pattern in arn_patterns)
        names = tuple(tuple(sorted(pattern.groupindex)) for pattern in patterns)
        order = sorted(range(len(patterns)), key=lambda position: -len(names[position]))
        return cls(tuple(resource_types), patterns, names, tuple(order))


@cache
def namespace_mappings() -> dict[str, NamespaceMapping]:
    text = resources.files("cwotlp").joinpath("resource_types.json").read_text()
    return {
        namespace: NamespaceMapping.of(entry["resource_types"], entry["arn_patterns"])
        for namespace, entry in json.loads(text).items()
    }


@dataclass
class _Listing:
    expires_at: float
    resources: tuple[tuple[str, Tags], ...]  # (ARN, selected tags)
    failed: bool = False
    _indexes: dict[str, Index] = field(default_factory=dict)

    def index(self, namespace: str, mapping: NamespaceMapping) -> Index:
        """The resources by dimension values, built once per namespace that reads this listing."""
        built = self._indexes.get(namespace)
        if built is None:
            built = self._indexes[namespace] = _build_index(self.resources, mapping)
        return built


def _build_index(listed: tuple[tuple[str, Tags], ...], mapping: NamespaceMapping) -> Index:
    index: Index = {}
    for arn, tags in listed:
        for position, pattern in enumerate(mapping.arn_patterns):
            found = pattern.search(arn)
            if found:  # the first pattern that matches claims the resource
                values = tuple(found.group(name) for name in mapping.dimension_names[position])
                index.setdefault(position, {})[values] = tags
                break
    return index


def _match(mapping: NamespaceMapping, indexes: list[Index], dimensions: Mapping[str, str]) -> Tags:
    for position in mapping.search_order:
        names = mapping.dimension_names[position]
        if all(name in dimensions for name in names):
            values = tuple(dimensions[name] for name in names)
            for index in indexes:
                tags = index.get(position, {}).get(values)
                if tags is not None:
                    return tags
    return ()


class _ListingCache:
    """Listings by (account, region, resource type, tag keys), bounded in resources and entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listings: OrderedDict[tuple[str, ...], _Listing] = OrderedDict()
        self._resources = 0

    def get(self, key: tuple[str, ...], now: float) -> _Listing | None:
        with self._lock:
            listing = self._listings.get(key)
        return listing if listing is not None and now < listing.expires_at else None

    def put(self, key: tuple[str, ...], listing: _Listing) -> None:
        with self._lock:
            replaced = self._listings.pop(key, None)
            self._resources -= len(replaced.resources) if replaced else 0
            self._listings[key] = listing
            self._resources += len(listing.resources)
            while self._resources > MAX_CACHED_RESOURCES or len(self._listings) > MAX_CACHED_LISTINGS:
                _, oldest = self._listings.popitem(last=False)
                self._resources -= len(oldest.resources)

    def clear(self) -> None:
        with self._lock:
            self._listings.clear()
            self._resources = 0


_LISTINGS = _ListingCache()
_ROLE_CREDENTIALS: OrderedDict[str, tuple[dict[str, str], float]] = OrderedDict()
_ROLE_LOCK = threading.Lock()


def forget_cached_tags() -> None:
    """Drops every cached listing and assumed-role credential (tests start from a cold process)."""
    _LISTINGS.clear()
    with _ROLE_LOCK:
        _ROLE_CREDENTIALS.clear()


class ResourceTags:
    def __init__(
        self,
        settings: TagSettings,
        *,
        own_account: str | None,
        session_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.counters = TagCounters()
        self._own_account = own_account
        self._session_factory = session_factory or _default_session
        self._session: Any = None
        self._clock = clock
        self._roleless_accounts: set[str] = set()

    def take_counters(self) -> TagCounters:
        taken, self.counters = self.counters, TagCounters()
        return taken

    def tags(
        self,
        account_id: str,
        region: str,
        namespace: str,
        dimensions: Mapping[str, str],
        deadline_seconds: float | None = None,
    ) -> Tags:
        """The selected tags (key, value) of the resource behind these dimensions, in settings.keys order,
        only those the resource has; () when the namespace has no mapping, no resource matches, or the
        lookup failed. deadline_seconds bounds each listing this call has to make (default 10 s)."""
        if not self.settings.enabled or not dimensions:
            return ()
        mapping = namespace_mappings().get(namespace)
        if mapping is None or not self._may_list(account_id):
            return ()
        made_before = self.counters.lookups
        listings = [
            self._listing(account_id, region, resource_type, deadline_seconds)
            for resource_type in mapping.resource_types
        ]
        if self.counters.lookups == made_before and not any(listing.failed for listing in listings):
            self.counters.cache_hits += 1
        return _match(mapping, [listing.index(namespace, mapping) for listing in listings], dimensions)

    def _may_list(self, account_id: str) -> bool:
        if self._is_own(account_id) or self.settings.role_name:
            return True
        if account_id not in self._roleless_accounts:
            self._roleless_accounts.add(account_id)
            self.counters.failures += 1
            log.warning(
                "resource tags of a linked account need a role to assume there: set the tag role name",
                extra={"account_id": account_id},
            )
        return False

    def _is_own(self, account_id: str) -> bool:
        return self._own_account is None or account_id == self._own_account

    def _listing(self, account_id: str, region: str, resource_type: str, deadline: float | None) -> _Listing:
        key = (account_id, region, resource_type, *self.settings.keys)
        cached = _LISTINGS.get(key, self._clock())
        if cached is None:
            cached = self._list(account_id, region, resource_type, deadline)
            _LISTINGS.put(key, cached)
        return cached

    def _list(self, account_id: str, region: str, resource_type: str, deadline: float | None) -> _Listing:
        self.counters.lookups += 1
        started = self._clock()
        budget = LISTING_BUDGET_SECONDS if deadline is None else deadline
        retry_soon = started + min(self.settings.ttl_seconds, FAILED_TTL_SECONDS)
        try:
            client = self._tagging_client(account_id, region)
            listed, shortfall = _list_pages(
                client, resource_type, self.settings.keys, lambda: self._clock() - started < budget
            )
        except Exception as error:  # whatever the cause, the datapoints go out untagged
            self._count_failure(account_id, region, resource_type, _error_code(error))
            return _Listing(retry_soon, (), failed=True)
        if shortfall is None:
            return _Listing(started + self.settings.ttl_seconds, tuple(listed))
        self._count_failure(account_id, region, resource_type, shortfall)
        # Out of pages stays so until resources go away: asking again soon would only cost the same pages.
        expires_at = retry_soon if shortfall == "TimeBudgetExceeded" else started + self.settings.ttl_seconds
        return _Listing(expires_at, tuple(listed))

    def _count_failure(self, account_id: str, region: str, resource_type: str, code: str) -> None:
        self.counters.failures += 1
        log.warning(
            "resource tag lookup failed; datapoints go out without these tags",
            extra={
                "account_id": account_id,
                "region": region,
                "resource_type": resource_type,
                "error_code": code,
            },
        )

    def _own_session(self) -> Any:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def _tagging_client(self, account_id: str, region: str) -> Any:
        session = self._own_session()
        credentials = {} if self._is_own(account_id) else self._role_credentials(account_id, region)
        return session.client(
            "resourcegroupstaggingapi", region_name=region, config=_client_config(), **credentials
        )

    def _role_credentials(self, account_id: str, region: str) -> dict[str, str]:
        session = self._own_session()
        partition = session.get_partition_for_region(region)
        role_arn = f"arn:{partition}:iam::{account_id}:role/{self.settings.role_name}"
        with _ROLE_LOCK:
            held = _ROLE_CREDENTIALS.get(role_arn)
        if held is not None and self._clock() < held[1]:
            return held[0]
        sts = session.client("sts", region_name=region, config=_client_config())
        issued = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)["Credentials"]
        lifetime = (issued["Expiration"] - datetime.now(UTC)).total_seconds()
        credentials = {
            "aws_access_key_id": issued["AccessKeyId"],
            "aws_secret_access_key": issued["SecretAccessKey"],
            "aws_session_token": issued["SessionToken"],
        }
        with _ROLE_LOCK:
            _ROLE_CREDENTIALS.pop(role_arn, None)
            _ROLE_CREDENTIALS[role_arn] = (credentials, self._clock() + lifetime - CREDENTIALS_MARGIN_SECONDS)
            while len(_ROLE_CREDENTIALS) > MAX_CACHED_ROLES:
                _ROLE_CREDENTIALS.popitem(last=False)
        return credentials


def _list_pages(
    client: Any, resource_type: str, keys: tuple[str, ...], in_time: Callable[[], bool]
) -> tuple[list[tuple[str, Tags]], str | None]:
    """The listed resources with their selected tags, and why the listing stopped short (None: it did not)."""
    listed: list[tuple[str, Tags]] = []
    token = ""
    for _ in range(PAGE_LIMIT):
        # Checked between pages; a page in flight is bounded by the client's timeouts and two attempts.
        if not in_time():
            return listed, "TimeBudgetExceeded"
        page = client.get_resources(
            ResourceTypeFilters=[resource_type], ResourcesPerPage=RESOURCES_PER_PAGE, PaginationToken=token
        )
        for item in page.get("ResourceTagMappingList", ()):
            listed.append((item["ResourceARN"], _selected(item.get("Tags", ()), keys)))
        token = page.get("PaginationToken") or ""
        if not token:
            return listed, None
    return listed, "PageLimitReached"


def _selected(tags: list[dict[str, str]], keys: tuple[str, ...]) -> Tags:
    values = {tag["Key"]: tag["Value"] for tag in tags}
    return tuple((key, values[key]) for key in keys if key in values)


def _error_code(error: Exception) -> str:
    """The AWS error code, or the exception's class name: other exception texts may carry anything."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "Unknown")
    return type(error).__name__


def _client_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})


def _default_session() -> Any:
    import boto3

    return boto3.session.Session()
