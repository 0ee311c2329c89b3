"""Generators of the checkout's derived files: the Meltano plugin definition (meltano_plugin), the
dbt current-rows models and their tests (current_rows_models), the dbt reporting models
(reporting_models) and the report catalogue with its schemas
(report_catalogue). Run in a checkout; tests check their output is up to date."""
