package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertWithMessage;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** The load generator's command line run in this JVM, with its JSON line parsed. */
record LoadGenCommand(int exitCode, String stdout, String stderr) {

  /** Runs {@code LoadGen} with {@code args} and returns what it printed. */
  static LoadGenCommand run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      exit = LoadGen.run(args, o, e);
    }
    LoadGenCommand command =
        new LoadGenCommand(
            exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    System.out.println(
        "loadgen " + String.join(" ", args) + "\n" + command.stderr + command.stdout);
    return command;
  }

  /** The JSON line (the last line of standard output) as a struct; fails the test if malformed. */
  Struct json() {
    List<String> lines = stdout.lines().toList();
    assertWithMessage("standard output: %s", stdout).that(lines).isNotEmpty();
    Struct.Builder json = Struct.newBuilder();
    try {
      JsonFormat.parser().merge(lines.get(lines.size() - 1), json);
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError("not JSON: " + stdout, e);
    }
    return json.build();
  }

  /** A number of the JSON line. */
  double number(String field) {
    Value value = json().getFieldsOrThrow(field);
    assertWithMessage("%s in %s", field, stdout)
        .that(value.getKindCase())
        .isEqualTo(Value.KindCase.NUMBER_VALUE);
    return value.getNumberValue();
  }

  /** A count of the JSON line. */
  long count(String field) {
    double number = number(field);
    assertWithMessage("%s in %s", field, stdout).that(number % 1).isEqualTo(0.0);
    return (long) number;
  }
}
