"""Settings from the environment: where the database is, pool and paging limits.

DATABASE_URL          libpq connection string or URI (postgresql://user@host/db)
POOL_MIN_SIZE         connections kept open (default 1)
POOL_MAX_SIZE         most connections at once (default 10)
POOL_TIMEOUT          seconds a request waits for a connection before a 503 (default 5)
STATEMENT_TIMEOUT_MS  longest a statement may run before a 504 (default 5000)
DEFAULT_LIMIT         rows per page when the request gives no limit (default 50)
MAX_LIMIT             largest limit a request may ask for (default 1000)
"""
from pydantic import BaseSettings, Field, PositiveFloat, PositiveInt


class Settings(BaseSettings):
    database_url: str = Field("postgresql:///postgres", env="DATABASE_URL")
    pool_min_size: PositiveInt = Field(1, env="POOL_MIN_SIZE")
    pool_max_size: PositiveInt = Field(10, env="POOL_MAX_SIZE")
    pool_timeout: PositiveFloat = Field(5.0, env="POOL_TIMEOUT")
    statement_timeout_ms: PositiveInt = Field(5000, env="STATEMENT_TIMEOUT_MS")
    default_limit: PositiveInt = Field(50, env="DEFAULT_LIMIT")
    max_limit: PositiveInt = Field(1000, env="MAX_LIMIT")


settings = Settings()
