# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test cluster-test bench up install mutation clean

demo: $(INSTALLED)  ## the hub on its local broker with the sample incidents; exits when done
	$(BIN)/referral-hub demo

test: $(INSTALLED)  ## the whole suite, integration tests on the project's own Kafka broker
	bash deploy/prometheus/ensure-tools.sh  # promtool and Prometheus, for the operations tests
	bash deploy/browser/ensure-chromium.sh  # Debian's chromium and chromedriver, for the acknowledgement page
	$(BIN)/pytest

cluster-test: $(INSTALLED)  ## production shape: three brokers, two instances of each service, things killed
	$(BIN)/pytest -m cluster tests/cluster

bench: $(INSTALLED)  ## the streaming path's speed on its own local broker (minutes; BENCH_ARGS=--quick)
	$(BIN)/python -m bench.hub $(BENCH_ARGS)

up: $(INSTALLED)  ## broker and services in the foreground until Ctrl-C
	$(BIN)/referral-hub up

install: $(INSTALLED)

# mutmut has a virtualenv of its own: it is no dependency of the hub, and its releases
# after 3.7.0 want a newer click than faust allows (README: Mutation testing).
MUTATION_VENV := .venv-mutation
MUTATION_INSTALLED := $(MUTATION_VENV)/.installed

mutation: $(MUTATION_INSTALLED)  ## mutation testing of the pure core against the unit tests; MODULE=rules for one module
	$(MUTATION_VENV)/bin/python tools/mutation.py $(MODULE)

$(MUTATION_INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required")'
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install --quiet --upgrade pip
	$(MUTATION_VENV)/bin/pip install --quiet -e '.[test,mutation]'
	touch $@

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:  ## stop local brokers and remove the virtualenv and run data
	-for dir in .run/kafka .run/demo-kafka .run/test/kafka .run/bench/kafka; do KAFKA_RUN_DIR=$$dir bash deploy/kafka/broker.sh stop; done
	-for dir in .run/cluster .run/test/cluster/kafka; do KAFKA_CLUSTER_RUN_DIR=$$dir bash deploy/kafka/cluster.sh stop; done
	-bash deploy/registry/registry.sh stop
	rm -rf $(VENV) $(MUTATION_VENV) .run
