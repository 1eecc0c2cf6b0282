// The PostgreSQL side's pure parts: the dialect translation of the ledger's SQL and the redaction of URLs.
#include <catch2/catch.hpp>

#include "spend/pg.h"
#include "spend/spend.h"

using sw::spend::is_postgres_url;
using sw::spend::detail::redact_postgres_url;
using sw::spend::detail::translate_sql;

TEST_CASE("translate_sql: ?N to $N, bare ? numbered in order, INDEXED BY dropped, literals untouched") {
  std::vector<bool> used;
  CHECK(translate_sql("SELECT a FROM t WHERE b = ?1 AND c = ?12", used) == "SELECT a FROM t WHERE b = $1 AND c = $12");
  REQUIRE(used.size() == 12);
  CHECK(used[0]);
  CHECK(used[11]);
  CHECK_FALSE(used[1]);  // sent as text: PostgreSQL needs no type for it
  used.clear();
  CHECK(translate_sql("INSERT INTO t VALUES (?, ?, '?x', 'it''s ?3')", used) ==
        "INSERT INTO t VALUES ($1, $2, '?x', 'it''s ?3')");
  CHECK(used == std::vector<bool>{true, true});
  used.clear();
  CHECK(translate_sql("SELECT 1 FROM payments INDEXED BY payments_counted WHERE x > ?1", used) ==
        "SELECT 1 FROM payments  WHERE x > $1");
  used.clear();
  CHECK(translate_sql("SELECT REINDEXED BY_x FROM t", used) == "SELECT REINDEXED BY_x FROM t");  // not the hint
}

TEST_CASE("postgres URLs: recognised by scheme, redacted without password or query") {
  CHECK(is_postgres_url("postgres://h/db"));
  CHECK(is_postgres_url("postgresql://u@h:5432/db"));
  CHECK_FALSE(is_postgres_url("/var/lib/satwarden/ledger.sqlite"));
  CHECK_FALSE(is_postgres_url("mysql://h/db"));
  CHECK(redact_postgres_url("postgresql://alice:s3cret@db.example:5432/ledger") ==
        "postgresql://alice:***@db.example:5432/ledger");
  CHECK(redact_postgres_url("postgres://alice@db/ledger?sslmode=require&password=s3cret") ==
        "postgres://alice@db/ledger?…");
  CHECK(redact_postgres_url("postgresql://db.example/ledger") == "postgresql://db.example/ledger");
  CHECK(redact_postgres_url("postgresql://u:p@ss@h/d") == "postgresql://u:***@h/d");  // an unencoded '@' too
  CHECK(redact_postgres_url("postgresql://u:p/ss@h/d") == "postgresql://u:***@h/d");  // and '/'
  CHECK(redact_postgres_url("postgresql://u@h/d") == "postgresql://u@h/d");
  const std::string r = redact_postgres_url("postgresql://u:p%40ss@h/d?password=x");
  CHECK(r.find("p%40ss") == std::string::npos);
  CHECK(r.find("password") == std::string::npos);
}
