// Splits lines into words, written with Apache Storm's own storm.js (from
// the jar org.apache.storm:multilang-javascript, found through NODE_PATH):
// a BasicBolt that anchors every emit to the input and acks it when
// `done` is called; every emit gets the list of task ids in a callback.
// A word is a maximal run of letters and digits, lowercased.
var storm = require('storm');
var BasicBolt = storm.BasicBolt;

var WORD = /[\p{L}\p{N}]+/gu;

function SplitBolt() {
    BasicBolt.call(this);
}

SplitBolt.prototype = Object.create(BasicBolt.prototype);
SplitBolt.prototype.constructor = SplitBolt;

SplitBolt.prototype.process = function (tup, done) {
    var self = this;
    var words = tup.values[0].match(WORD) || [];
    words.forEach(function (word) {
        self.emit({tuple: [word.toLowerCase()], anchorTupleId: tup.id}, function (taskIds) {});
    });
    done();
};

new SplitBolt().run();
