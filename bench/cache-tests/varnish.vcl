# Varnish with its built-in VCL, as the cache-tests project runs it for cache-tests.fyi (its docker
# setup only points the default backend at the test server). run.ts replaces @ORIGIN_PORT@.
vcl 4.1;

backend default {
  .host = "127.0.0.1";
  .port = "@ORIGIN_PORT@";
}
