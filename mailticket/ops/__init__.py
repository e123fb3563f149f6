"""Operations at a glance: one health verdict (``health``) and Prometheus metrics
(``metrics``), both read from the database, so they tell the same story whichever
daemon (or none) is running."""
