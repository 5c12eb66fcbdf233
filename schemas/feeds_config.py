"""Feed and HTTP settings: how newsbeam reads feeds and how politely it fetches them.

Part of the run configuration (a ``feeds:`` section of a YAML profile); validated once at
launch and passed to ``transforms.feeds`` / ``transforms.http`` as a plain value.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_USER_AGENT = "newsbeam/0.1 (news feed reader; set feeds.user_agent to add a contact URL)"


class FeedConfig(BaseModel):
    # A misspelt key in a profile is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(
        default_factory=list, description="feed URLs, local feed files and OPML lists, added to --feeds"
    )
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, description="sent with every request")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a connection")
    read_timeout: float = Field(30.0, gt=0, description="seconds of silence allowed while reading")
    total_timeout: float = Field(120.0, gt=0, description="seconds for a whole response (stops trickling servers)")
    max_retries: int = Field(3, ge=0, description="extra attempts after a 429, 5xx or connection error")
    backoff_base: float = Field(1.0, ge=0, description="first retry wait in seconds; doubles per attempt, jittered")
    max_retry_wait: float = Field(
        60.0, ge=0, description="longest single wait; a longer Retry-After gives up instead of waiting"
    )
    max_bytes: int = Field(10_000_000, gt=0, description="largest response body, counted after decompression")
    per_host_delay: float = Field(1.0, ge=0, description="minimum seconds between two requests to one host")
    max_redirects: int = Field(5, ge=0, description="redirect hops followed before giving up")
    respect_robots: bool = Field(True, description="obey robots.txt for feeds and pages")
    fetch_pages: bool = Field(
        True, description="fetch the linked page when an entry carries only a summary (else use the summary)"
    )
    full_text_min_words: int = Field(
        100, ge=1, description="an entry body with fewer words is a summary, and the page is fetched"
    )
    revalidate_every: int = Field(
        10, ge=1, description="after this many conditional fetches (304s) of a feed, fetch it unconditionally once"
    )

    @model_validator(mode="after")
    def _wait_covers_backoff(self) -> FeedConfig:
        if self.backoff_base > self.max_retry_wait:
            raise ValueError("backoff_base must not exceed max_retry_wait")
        return self
