"""Each configured force has a raw input topic of its own, and the topic names its force."""
from referral_hub.adapters.topics import CORE_TOPICS, force_of_raw_topic, raw_topic, raw_topics


def test_each_force_has_its_own_raw_topic_that_names_it(config):
    topics = raw_topics(config.forces)
    assert topics == ["incidents.raw.merseyside.v1", "incidents.raw.cheshire.v1"]
    assert [force_of_raw_topic(topic) for topic in topics] == list(config.forces)
    assert force_of_raw_topic(raw_topic("north-wales")) == "north-wales"
    assert not set(topics) & set(CORE_TOPICS)
