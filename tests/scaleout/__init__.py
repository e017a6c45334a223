"""Scale-out: several gateways, Rasa servers and action servers on PostgreSQL and Redis."""
